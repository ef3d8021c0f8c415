-- Live events (an action's progress, a connector's change, an upload), written in the transaction of
-- the change they announce: every instance's event streams read them from here in order, LISTEN/NOTIFY
-- only wakes them, and a stream resumes after the last event it saw.
CREATE TABLE events (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      text COLLATE "C" NOT NULL,
    name    text COLLATE "C" NOT NULL,      -- deviceAction | connector | devices
    data    jsonb NOT NULL
);
