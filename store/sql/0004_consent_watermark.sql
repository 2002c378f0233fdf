-- The latest consent time weighed for an advisor's current consent state: its own evidence time,
-- or the later time claimed by an imported state it overrode. An inbound STOP or PAUSE (the
-- advisor's own word) wins over an imported state even when the import claims a later time, and
-- keeps its own time as consent_changed_at; an import changes it again only with evidence later
-- than this watermark, so importing the same file again cannot undo the STOP.
ALTER TABLE advisors ADD COLUMN consent_watermark timestamptz;

UPDATE advisors SET consent_watermark = consent_changed_at WHERE consent_changed_at IS NOT NULL;
