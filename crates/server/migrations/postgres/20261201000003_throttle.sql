-- Sign-in attempts counted for every instance at once (an attacker gains nothing by spreading
-- attempts over instances): per key (an account, an address), the theoretical arrival time of the
-- next attempt in milliseconds since 1970, as the generic cell rate algorithm keeps it.
CREATE TABLE throttle (
    key     text COLLATE "C" PRIMARY KEY,
    tat     bigint NOT NULL
);
