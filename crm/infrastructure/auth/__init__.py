"""Access tokens: verifying them (PyJWT), and the issuer's keys they are checked against."""
