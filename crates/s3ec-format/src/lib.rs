//! s3ec-format (under construction).
