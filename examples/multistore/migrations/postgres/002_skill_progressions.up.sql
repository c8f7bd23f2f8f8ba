-- 002_skill_progressions (postgres)
CREATE TABLE IF NOT EXISTS skill_progressions (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_skill_progressions_user
    ON skill_progressions (user_id, created_at);
