//! The logic of the `get_path` fuzz target. Not part of the API: hidden, and free to change.
//!
//! Once per process, genuine encrypted objects are written with fixed keys through `s3ec::Client` over
//! [`MemS3`] (several suites, keyrings and storages), plus two legacy V1/CBC objects written by Ruby's client
//! (from `testdata/vectors`). Each input picks one object, client options, an optional `Range`, and a list of
//! mutations of what the server answers (metadata, instruction file, body, status and headers). The client then
//! gets the object and the whole body is read. The oracle:
//!
//! - never a panic, never a hang (5 s);
//! - a successful get returns the genuine plaintext (or the requested slice), unless the options allow an
//!   unauthenticated mode that the tampering can reach (CBC content, ranged CTR);
//! - a failed get released no byte in the authenticated modes; with delayed authentication (or a CBC or ranged
//!   read) the bytes released before the error are a prefix of the genuine plaintext when only the transport
//!   was disturbed (cut connection, chunking);
//! - an untouched object, read with every legacy option on, the genuine context and a policy that admits it,
//!   succeeds.
//!
//! Input layout (each read yields 0 once the input is exhausted): object index, options byte, buffer choice,
//! context choice, range kind and operands, then mutations until the input ends (at most [`MAX_MUTATIONS`]),
//! each an opcode byte and its operands.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Unstructured;
use bytes::Bytes;
use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::{AlgorithmSuite, CommitmentPolicy, Keyring, StringMap};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_materials::MultiKeyring;

use crate::{MemKms, MemObject, MemResponse, MemS3, MEM_KMS_KEY_ID};

mod mutate;
mod oracle;
#[cfg(test)]
mod tests;
mod world;

use mutate::*;
use oracle::*;
pub use world::object_names;
use world::*;

/// Mutations applied per input at most.
pub const MAX_MUTATIONS: usize = 24;

const BUCKET: &str = "fuzz";
const KEY: &str = "obj";
const INSTRUCTION_KEY: &str = "obj.instruction";

/// The fuzz target: see the module documentation.
pub fn get_path(data: &[u8]) {
    let w = world();
    let mut inp = Input(Unstructured::new(data));
    let g = &w.objects[inp.below(w.objects.len())];
    let flags = inp.byte();
    let policy = [
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        CommitmentPolicy::RequireEncryptAllowDecrypt,
        CommitmentPolicy::ForbidEncryptAllowDecrypt,
    ][usize::from(flags & 3) % 3];
    let legacy_wrapping = flags & 4 != 0;
    let legacy_unauth = flags & 8 != 0;
    let delayed = flags & 16 != 0;
    let buffer = [None, Some(16), Some(40), Some(1 << 20)][inp.below(4)];
    let context_choice = inp.below(4);
    let range = pick_range(&mut inp, g.plaintext.len());

    let mut s = Served {
        body: g.body.to_vec(),
        metadata: g.metadata.clone(),
        instruction: g.instruction.clone(),
        instruction_raw: None,
        instruction_status: None,
        status: None,
        content_range: None,
        content_length: None,
        chunk: None,
        fail_after: None,
        body_tampered: false,
        envelope_tampered: false,
    };
    let mut n = 0;
    while !inp.done() && n < MAX_MUTATIONS {
        mutate(&mut inp, g, &mut s);
        n += 1;
    }

    let mem = MemS3::new();
    mem.insert(
        BUCKET,
        KEY,
        MemObject {
            body: Bytes::from(s.body.clone()),
            metadata: s.metadata.iter().cloned().collect(),
        },
    );
    let instruction_body = match (&s.instruction_raw, &s.instruction) {
        (Some(raw), _) => Some(raw.clone()),
        (None, Some(pairs)) => Some(json(pairs)),
        (None, None) => None,
    };
    if let Some(body) = instruction_body {
        mem.insert(
            BUCKET,
            INSTRUCTION_KEY,
            MemObject {
                body: Bytes::from(body),
                metadata: Default::default(),
            },
        );
    }
    let served = Arc::new(s);
    let hook_view = served.clone();
    mem.set_hook(move |req, stored| respond(&hook_view, &req.key, stored));
    let s = served;

    let mut builder = s3ec::Client::builder()
        .s3_client(mem.client())
        .shared_keyring(w.keyring.clone())
        .commitment_policy(policy)
        .enable_legacy_wrapping_algorithms(legacy_wrapping)
        .enable_legacy_unauthenticated_modes(legacy_unauth)
        .enable_delayed_authentication(delayed);
    if let (Some(b), false) = (buffer, delayed) {
        builder = builder.buffer_size(b);
    }
    let Ok(client) = builder.build() else {
        return;
    };
    let context = match context_choice {
        0 | 1 => g.context.clone(),
        2 => StringMap::new(),
        _ => {
            let mut c = g.context.clone();
            c.insert("purpose".into(), "other".into());
            c
        }
    };
    let mut get = client.get_object().bucket(BUCKET).key(KEY);
    if !context.is_empty() {
        get = get.encryption_context(context.clone());
    }
    if let Some(r) = &range {
        get = get.range(r.header.clone());
    }

    let outcome = runtime().block_on(async {
        let run = async {
            match get.send().await {
                Err(e) => Outcome::Refused(e.to_string()),
                Ok(out) => {
                    let content_length = out.content_length;
                    let mut body = out.body;
                    let mut released = Vec::new();
                    let error = loop {
                        match body.try_next().await {
                            Ok(Some(chunk)) => released.extend_from_slice(&chunk),
                            Ok(None) => break None,
                            Err(e) => break Some(e.to_string()),
                        }
                    };
                    Outcome::Read {
                        released,
                        error,
                        content_length,
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap_or_else(|_| panic!("get of {} hung for 5 s", g.name))
    });

    if std::env::var_os("S3EC_GET_PATH_DEBUG").is_some() {
        eprintln!(
            "object {} policy {policy:?} legacy_wrapping {legacy_wrapping} legacy_unauth {legacy_unauth} \
             delayed {delayed} buffer {buffer:?} context {context_choice}\nrange {range:?}\nserved {s:#?}\n\
             outcome {outcome:?}",
            g.name
        );
    }
    check(
        g,
        &s,
        &Checked {
            policy,
            legacy_wrapping,
            legacy_unauth,
            delayed,
            context_genuine: context == g.context,
            range: range.as_ref(),
        },
        outcome,
    );
}

fn runtime() -> &'static tokio::runtime::Runtime {
    thread_local! {
        static RT: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        ));
    }
    RT.with(|rt| *rt)
}

/// Seed inputs: every object untouched under a few option sets, plus a few classic attacks.
pub fn seeds() -> Vec<Vec<u8>> {
    let n = world().objects.len() as u8;
    let mut out = Vec::new();
    for obj in 0..n {
        // flags: policy | legacy wrapping 4 | legacy unauth 8 | delayed 16
        for flags in [0u8, 2 | 4 | 8, 16, 2 | 4 | 8 | 16] {
            for buffer in [0u8, 1] {
                out.push(vec![obj, flags, buffer, 0, 0, 0, 0]);
            }
        }
        // Ranges, with legacy unauthenticated on and off.
        out.push(vec![obj, 2 | 4 | 8, 0, 0, 4, 3, 9]);
        out.push(vec![obj, 2, 0, 0, 5, 0, 0]);
        out.push(vec![obj, 2 | 4 | 8, 0, 0, 6, 5, 0]);
        // Flip a body byte; truncate; move x-amz-c to the instruction file; drop the tag length.
        out.push(vec![obj, 2 | 4 | 8, 0, 0, 0, 0, 0, 7, 0, 3, 1]);
        out.push(vec![obj, 2 | 4 | 8 | 16, 2, 0, 0, 0, 0, 8, 0, 10]);
        out.push(vec![obj, 2 | 4 | 8, 0, 0, 0, 0, 0, 4, 9]);
        out.push(vec![obj, 2 | 4 | 8, 0, 0, 0, 0, 0, 1, 6]);
        // Cut the connection, chunked body.
        out.push(vec![obj, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 15, 3, 16, 20]);
    }
    out
}
