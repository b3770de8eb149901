"""End-to-end tests: the real `w800at serve` process over PTY, TCP and RFC 2217."""
