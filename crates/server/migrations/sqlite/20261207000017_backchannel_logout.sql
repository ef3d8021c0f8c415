-- Back-channel logout (issue 35): the provider's session id (`sid` of the ID token) kept with the
-- session it started, so that the provider can end exactly that one; and the logout tokens
-- received (by issuer and `jti`), so that none is used twice, kept until they expire.
ALTER TABLE sessions ADD COLUMN provider_sid TEXT;
CREATE INDEX sessions_by_provider_sid ON sessions (provider_sid) WHERE provider_sid IS NOT NULL;

CREATE TABLE logout_tokens (
    issuer          TEXT NOT NULL,
    jti             TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    PRIMARY KEY (issuer, jti)
) STRICT;
