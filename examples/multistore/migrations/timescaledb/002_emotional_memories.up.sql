-- 002_emotional_memories (timescaledb)
CREATE TABLE IF NOT EXISTS emotional_memories (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_emotional_memories_user
    ON emotional_memories (user_id, created_at);
