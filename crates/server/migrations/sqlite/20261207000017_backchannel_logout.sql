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

-- Whether the connector checks at its site that the user who asked for an action is one the site
-- discovered (tenant attach's rule); NULL for a connector that never said.
ALTER TABLE connectors ADD COLUMN checks_users INTEGER;
