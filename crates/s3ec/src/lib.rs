//! s3ec (under construction).
