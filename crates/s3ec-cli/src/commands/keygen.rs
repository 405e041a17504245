//! `s3ec keygen`: AES-256 key files and RSA key pairs.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{KeyKind, KeygenArgs};
use crate::error::CliError;

/// What `keygen` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The secret key file (AES key or RSA private key).
    pub secret: PathBuf,
    /// The RSA public key file.
    pub public: Option<PathBuf>,
}

/// Runs `keygen` and prints what was written.
pub fn run(args: &KeygenArgs, json_out: bool) -> Result<(), CliError> {
    let generated = generate(args.kind, args.bits, &args.out)?;
    if json_out {
        let doc = json!({
            "kind": match args.kind { KeyKind::Aes => "aes-256", KeyKind::Rsa => "rsa" },
            "bits": match args.kind { KeyKind::Aes => 256, KeyKind::Rsa => args.bits },
            "key_file": generated.secret,
            "public_key_file": generated.public,
        });
        println!("{doc}");
    } else {
        match &generated.public {
            None => println!("wrote AES-256 key to {} (keep it secret; use it with --aes-key)", generated.secret.display()),
            Some(public) => println!(
                "wrote RSA-{} private key to {} (use it with --rsa-key) and public key to {} (encrypt only)",
                args.bits,
                generated.secret.display(),
                public.display()
            ),
        }
    }
    Ok(())
}

/// Generates a key of `kind` into `out` (and `out.pub` for RSA). Files are created new with mode 0600 and
/// never overwrite an existing file.
pub fn generate(kind: KeyKind, bits: u32, out: &Path) -> Result<Generated, CliError> {
    match kind {
        KeyKind::Aes => {
            let mut key = Zeroizing::new([0u8; 32]);
            getrandom::fill(key.as_mut()).map_err(|e| {
                CliError::Key(format!("key generation failed: OS random generator: {e}"))
            })?;
            write_new(out, key.as_ref(), true)?;
            // Read it back through the loader the other commands use, so a file we write is always usable.
            s3ec_local::load_aes_key(out)?;
            Ok(Generated {
                secret: out.to_path_buf(),
                public: None,
            })
        }
        KeyKind::Rsa => {
            use aws_lc_rs::encoding::AsDer;
            use aws_lc_rs::rsa::{KeyPair, KeySize};
            let size = match bits {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                8192 => KeySize::Rsa8192,
                other => {
                    return Err(CliError::Usage(format!(
                        "RSA size {other} is not one of 2048, 3072, 4096, 8192"
                    )))
                }
            };
            let pair = KeyPair::generate(size)
                .map_err(|_| CliError::Key("RSA key generation failed".into()))?;
            let pkcs8 = pair
                .as_der()
                .map_err(|_| CliError::Key("cannot encode the RSA private key".into()))?;
            let private_pem = Zeroizing::new(pem("PRIVATE KEY", pkcs8.as_ref()));
            let spki = crate::setup::public_spki_der(&pair)
                .map_err(|_| CliError::Key("cannot encode the RSA public key".into()))?;
            let public_pem = pem("PUBLIC KEY", &spki);
            let mut public_path = out.as_os_str().to_owned();
            public_path.push(".pub");
            let public_path = PathBuf::from(public_path);
            if public_path.exists() {
                return Err(exists(&public_path));
            }
            write_new(out, private_pem.as_bytes(), true)?;
            write_new(&public_path, public_pem.as_bytes(), false)?;
            s3ec_local::load_rsa_private_key(out)?;
            s3ec_local::load_rsa_public_key(&public_path)?;
            Ok(Generated {
                secret: out.to_path_buf(),
                public: Some(public_path),
            })
        }
    }
}

fn exists(path: &Path) -> CliError {
    CliError::Usage(format!(
        "{} already exists; keygen never overwrites a key",
        path.display()
    ))
}

fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            exists(path)
        } else {
            CliError::io(path, e)
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io(path, e))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_key_is_32_random_bytes_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.key");
        let b = dir.path().join("b.key");
        generate(KeyKind::Aes, 0, &a).unwrap();
        generate(KeyKind::Aes, 0, &b).unwrap();
        let (ka, kb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(ka.len(), 32);
        assert_ne!(ka, kb, "two generated keys are different");
        let err = generate(KeyKind::Aes, 0, &a).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), ka, "existing key untouched");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn rsa_pair_loads_as_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rsa.pem");
        let g = generate(KeyKind::Rsa, 2048, &out).unwrap();
        let public = g.public.unwrap();
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(std::fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n"));
        crate::setup::rsa_keyring(&out).unwrap();
        crate::setup::rsa_keyring(&public).unwrap();
    }
}
