-- 001_episodic_memories (timescaledb)
CREATE TABLE IF NOT EXISTS episodic_memories (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_episodic_memories_user
    ON episodic_memories (user_id, created_at);
