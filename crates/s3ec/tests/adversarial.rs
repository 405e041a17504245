//! The adversarial suite (issue #8): the attack classes of AWS's cross-language test-server suites
//! (V3HeaderSpoofingTests, BleichenbacherOracleTests, RangedGetTests, InstructionFileFailures, KeyCommitmentPolicy
//! tests, CekAlgBindingVerificationTests, WrappingAlgorithmDowngradeTests, MaterialDescriptionTamperTests, CBC and
//! legacy gates) and the pitfalls of FORMAT-NOTES section 5, played by an attacker with write access to the
//! bucket against moto (S3 and KMS) and Garage.
//!
//! Every attack must be refused with a typed error, before any plaintext exists; where a gate comes first, the
//! keyring (hence KMS or RSA) is never called, which a counting keyring and a counting KMS client prove. Padding
//! failures must be indistinguishable. What `tamper.rs` already covers (flipped content bytes, delayed
//! authentication, plain objects) is not repeated. Server-response forgeries use s3ec-testkit's in-memory S3.

mod common;
#[path = "adversarial/instruction.rs"]
mod instruction;
#[path = "adversarial/oracles.rs"]
mod oracles;
#[path = "adversarial/policy.rs"]
mod policy;
#[path = "adversarial/ranged.rs"]
mod ranged;
#[path = "adversarial/responses.rs"]
mod responses;
#[path = "adversarial/spoofing.rs"]
mod spoofing;
#[path = "adversarial/support.rs"]
mod support;

use common::KeyringKind;
use support::Fixture;

/// Runs `$body` for each keyring family on moto (KMS included) and, for the raw keyrings, on Garage.
macro_rules! on_servers {
    ($moto:ident, $garage:ident, [$($kind:ident),+], $f:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $moto() {
            let server = common::moto().await;
            for kind in [$(KeyringKind::$kind),+] {
                $f(&Fixture::new(&server, kind).await).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $garage() {
            let server = common::garage().await;
            for kind in [$(KeyringKind::$kind),+] {
                if kind != KeyringKind::Kms {
                    $f(&Fixture::new(&server, kind).await).await;
                }
            }
        }
    };
}

// V3HeaderSpoofingTests.
on_servers!(
    v3_header_spoofing_moto,
    v3_header_spoofing_garage,
    [Aes, Rsa, Kms],
    spoofing::v3_header_spoofing
);
// FORMAT-NOTES 5.5: V2 objects dressed as committed V3 objects.
on_servers!(
    v2_dressed_as_v3_moto,
    v2_dressed_as_v3_garage,
    [Aes, Rsa, Kms],
    spoofing::v2_dressed_as_v3
);
// CekAlgBindingVerificationTests, CVE-2020-8912.
on_servers!(
    cek_alg_downgrade_moto,
    cek_alg_downgrade_garage,
    [Aes, Rsa, Kms],
    spoofing::content_algorithm_downgrades
);
// MaterialDescriptionTamperTests.
on_servers!(
    matdesc_tamper_moto,
    matdesc_tamper_garage,
    [Aes, Kms],
    spoofing::material_description_tamper
);
// FORMAT-NOTES 5.10.
on_servers!(
    nonce_hygiene_moto,
    nonce_hygiene_garage,
    [Aes, Kms],
    spoofing::nonce_hygiene
);
// FORMAT-NOTES 5.12.
on_servers!(
    short_bodies_moto,
    short_bodies_garage,
    [Aes],
    spoofing::short_and_long_bodies
);
// FORMAT-NOTES 5.3.
on_servers!(
    plaintext_digests_moto,
    plaintext_digests_garage,
    [Aes],
    spoofing::no_plaintext_digests
);
// BleichenbacherOracleTests.
on_servers!(
    bleichenbacher_moto,
    bleichenbacher_garage,
    [Rsa],
    oracles::bleichenbacher
);
// CVE-2020-8911 (CBC padding oracle) and the CBC gates.
on_servers!(
    cbc_padding_oracle_moto,
    cbc_padding_oracle_garage,
    [Aes, Kms],
    oracles::cbc_padding
);
// RangedGetTests.
on_servers!(
    ranged_commitment_moto,
    ranged_commitment_garage,
    [Aes, Kms],
    ranged::commitment_on_ranges
);
on_servers!(
    range_gates_moto,
    range_gates_garage,
    [Aes],
    ranged::range_gates
);
// InstructionFileFailures.
on_servers!(
    instruction_files_v3_moto,
    instruction_files_v3_garage,
    [Aes, Rsa, Kms],
    instruction::v3_instruction_files
);
on_servers!(
    instruction_files_v2_moto,
    instruction_files_v2_garage,
    [Aes, Kms],
    instruction::v2_instruction_files
);
// KeyCommitmentPolicy tests (decrypt side) and the legacy wrap gate.
on_servers!(
    commitment_policy_moto,
    commitment_policy_garage,
    [Aes, Kms],
    policy::decrypt_policy
);
on_servers!(
    legacy_wrap_gate_moto,
    legacy_wrap_gate_garage,
    [Aes],
    policy::legacy_wrap_gate
);

/// WrappingAlgorithmDowngradeTests (KMS: moto only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_wrap_downgrade_moto() {
    let server = common::moto().await;
    spoofing::kms_wrap_downgrade(&Fixture::new(&server, KeyringKind::Kms).await).await;
}

/// KeyCommitmentPolicyEncryptFailureTests (no server needed).
#[test]
fn commitment_policy_encrypt_conflicts() {
    policy::encrypt_policy_conflicts();
}

// A hostile server (s3ec-testkit's in-memory S3): FORMAT-NOTES 5.8, 5.13, 5.14.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_content_range_without_range() {
    responses::content_range_without_range().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_content_range_on_ranged_gets() {
    responses::forged_content_range().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_release_nothing() {
    responses::broken_bodies_release_nothing().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruction_file_read_failures() {
    responses::instruction_file_read_failures().await;
}

// Issue 14: multipart over an instruction-file object, lying lengths, bounded side reads.
#[path = "adversarial/hardening.rs"]
mod hardening;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_leaves_existing_instruction_files_alone() {
    hardening::multipart_leaves_existing_instruction_files_alone().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruction_file_reads_are_bounded() {
    hardening::instruction_file_reads_are_bounded().await;
}

/// Set in the child that [`declared_lengths_drive_no_allocation`] re-runs itself as.
const LIMITED_CHILD: &str = "S3EC_TEST_LIMITED_CHILD";

/// Re-runs itself in a child process with its address space capped at 4 GiB and its files at 256 MiB, where a
/// 64 GiB reservation of memory (an abort) or of disk (SIGXFSZ) kills the process; the child must finish its
/// reads with errors and exit cleanly.
#[test]
fn declared_lengths_drive_no_allocation() {
    const NAME: &str = "declared_lengths_drive_no_allocation";
    if std::env::var_os(LIMITED_CHILD).is_some() {
        use rustix::process::{setrlimit, Resource, Rlimit};
        for (resource, limit) in [(Resource::As, 4u64 << 30), (Resource::Fsize, 256 << 20)] {
            let cap = Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            };
            setrlimit(resource, cap).expect("setrlimit");
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(hardening::lying_content_length());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(LIMITED_CHILD, "1")
        .output()
        .expect("re-run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child: {:?}\n{text}",
        out.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_cmm_suite_is_checked_against_the_policy() {
    hardening::custom_cmm_suite_is_checked_against_the_policy().await;
}
