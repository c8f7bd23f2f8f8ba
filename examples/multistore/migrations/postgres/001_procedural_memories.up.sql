-- 001_procedural_memories (postgres)
CREATE TABLE IF NOT EXISTS procedural_memories (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_procedural_memories_user
    ON procedural_memories (user_id, created_at);
