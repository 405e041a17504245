//! s3ec-materials (under construction).
