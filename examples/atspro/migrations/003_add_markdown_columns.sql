-- Migration: Markdown storage columns

ALTER TABLE "userJobs" ADD COLUMN IF NOT EXISTS description_md TEXT;
COMMENT ON COLUMN "userJobs".description_md IS 'Job description as Markdown';
