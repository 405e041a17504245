//! s3ec-crypto (under construction).
