-- Variables per environment (DESIGN "Variables per environment"): one row
-- per entry, at the project level (environment_key '') or at one
-- environment's. An environment entry may be `unset` (no value): it hides
-- the project's value there. A secret's value is sealed
-- (`sealed:v1:...`, see src/sealed.rs), never kept in clear.
CREATE TABLE variables (
    id BIGSERIAL PRIMARY KEY,
    team_project_key TEXT NOT NULL,
    -- Folded; '' at the project level.
    environment_key TEXT NOT NULL,
    -- As first given ('' at the project level): stage names in exports.
    environment TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    secret BOOLEAN NOT NULL DEFAULT FALSE,
    unset BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (team_project_key, environment_key, name)
);
