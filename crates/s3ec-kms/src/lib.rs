//! s3ec-kms (under construction).
