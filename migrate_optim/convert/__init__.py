"""Static, comment-preserving rewriting of 0.x configs with libcst; never imports torch."""
