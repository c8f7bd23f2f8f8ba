-- Reverts 002_skill_progressions.up.sql
DROP INDEX IF EXISTS idx_skill_progressions_user;
DROP TABLE IF EXISTS skill_progressions;
