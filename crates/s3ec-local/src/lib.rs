//! s3ec-local (under construction).
