-- Reverts 001_episodic_memories.up.sql
DROP INDEX IF EXISTS idx_episodic_memories_user;
DROP TABLE IF EXISTS episodic_memories;
