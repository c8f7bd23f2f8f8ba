-- Migration: Activity type enum update

ALTER TYPE activity_type ADD VALUE IF NOT EXISTS 'job_added';
