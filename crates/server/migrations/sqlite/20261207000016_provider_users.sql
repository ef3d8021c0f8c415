-- Users who sign in through the organization's OpenID Connect provider (issue 35): keyed by the
-- provider's issuer and their subject there, with the identifiers a site looks users up by. A
-- local account has no issuer. A provider user's password_hash is '!', which no password matches.
ALTER TABLE users ADD COLUMN issuer TEXT;
ALTER TABLE users ADD COLUMN subject TEXT;
ALTER TABLE users ADD COLUMN object_id TEXT;
ALTER TABLE users ADD COLUMN onprem_sid TEXT;
CREATE UNIQUE INDEX users_by_subject ON users (issuer, subject) WHERE issuer IS NOT NULL;

-- Roles assigned to values of the provider's roles claim (app roles or group ids): a provider
-- user holds the roles assigned to any value their ID token carries, recomputed at each sign-in.
CREATE TABLE role_claim_values (
    role_id         TEXT NOT NULL REFERENCES role_definitions(id) ON DELETE CASCADE,
    claim_value     TEXT NOT NULL,
    PRIMARY KEY (role_id, claim_value)
) STRICT;
CREATE INDEX role_claim_values_by_value ON role_claim_values (claim_value);
