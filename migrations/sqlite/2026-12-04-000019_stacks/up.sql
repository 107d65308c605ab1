-- The stacks wing (DESIGN "Test stacks leased per branch"). A stack is
-- `{prefix}{number}` of one project; at most one lease of it is open.
CREATE TABLE stacks (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    team_project TEXT NOT NULL,
    team_project_key TEXT NOT NULL,
    number BIGINT NOT NULL,
    name TEXT NOT NULL,
    -- The branch it was last leased to.
    branch TEXT NOT NULL,
    last_deployed_commit TEXT,
    is_available BOOLEAN NOT NULL,
    -- The fence of its latest grant; grows with every grant.
    fence BIGINT NOT NULL,
    last_requested_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    modified_at TIMESTAMP NOT NULL,
    UNIQUE (team_project_key, number),
    UNIQUE (team_project_key, name)
);

-- One row per grant; only the token's hash is kept. Open while ended_at
-- is NULL. Kept after the stack is deleted, so a late holder still gets
-- `lease-expired` and a recreated stack's fence goes on growing.
CREATE TABLE stack_leases (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    stack_pk BIGINT NOT NULL,
    team_project_key TEXT NOT NULL,
    stack_name TEXT NOT NULL,
    fence BIGINT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    branch TEXT NOT NULL,
    holder TEXT,
    granted_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    -- released, expired
    end_reason TEXT
);
CREATE UNIQUE INDEX stack_leases_open ON stack_leases (stack_pk) WHERE ended_at IS NULL;
CREATE INDEX stack_leases_name ON stack_leases (team_project_key, stack_name);

-- The first-come queue of requests waiting for a stack, in pk order; a
-- request_id keeps its place until expires_at (its last ask plus grace).
CREATE TABLE stack_waiters (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    team_project_key TEXT NOT NULL,
    request_id TEXT NOT NULL,
    branch TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    UNIQUE (team_project_key, request_id)
);
CREATE INDEX stack_waiters_line ON stack_waiters (team_project_key, pk);
