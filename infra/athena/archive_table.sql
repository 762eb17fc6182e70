-- The Switchyard archive as an Athena table: `switchyard.archive`.
--
-- Each regional stack already creates this table in its region's Glue Data Catalog; this is the
-- same definition as DDL (generated from infra/archive_catalog.py, which a test keeps in step),
-- for reading or for recreating it by hand. Replace <ArchiveBucketName> with that stack output,
-- and 365 with the stack's archive_retention_days if you changed it.
--
-- Partitions are projected, never registered. source_id is injected: every query must name the
-- source(s). `date` and `timestamp` are reserved words (quote them in queries). Example:
--
--   SELECT type, event, count(*) AS events
--   FROM switchyard.archive
--   WHERE source_id = 'web' AND "date" BETWEEN '2025-01-01' AND '2025-01-31'
--   GROUP BY 1, 2 ORDER BY 3 DESC;
--
--   SELECT json_extract_scalar(properties, '$.plan') AS plan, count(*) AS signups
--   FROM switchyard.archive
--   WHERE source_id IN ('web', 'ios') AND "date" = '2025-01-15' AND hour = '09'
--     AND event = 'Signed Up'
--   GROUP BY 1;

CREATE DATABASE IF NOT EXISTS switchyard;

CREATE EXTERNAL TABLE IF NOT EXISTS switchyard.archive (
  `messageid`         string COMMENT 'messageId: unique per source (deduplicated by the router)',
  `type`              string COMMENT 'track, identify, page, screen, group or alias',
  `event`             string COMMENT 'track: the event name',
  `name`              string COMMENT 'page and screen: the page or screen name',
  `userid`            string COMMENT 'userId',
  `anonymousid`       string COMMENT 'anonymousId',
  `groupid`           string COMMENT 'group: groupId',
  `previousid`        string COMMENT 'alias: previousId',
  `timestamp`         string COMMENT 'ISO 8601: when it happened (corrected for client clock skew)',
  `originaltimestamp` string COMMENT 'ISO 8601: the timestamp set by the client',
  `sentat`            string COMMENT 'ISO 8601: when the SDK sent it',
  `receivedat`        string COMMENT 'ISO 8601: when Switchyard received it (sets date and hour)',
  `projectid`         string COMMENT 'the source id',
  `receivedregion`    string COMMENT 'the region that received it',
  `properties`        string COMMENT 'JSON object: track, page and screen properties',
  `traits`            string COMMENT 'JSON object: identify and group traits',
  `context`           string COMMENT 'JSON object: context (library, ip, userAgent, ...)',
  `integrations`      string COMMENT 'JSON object: per-destination switches and options'
)
COMMENT 'Every accepted event: gzip JSON Lines, one Segment message per line'
PARTITIONED BY (
  `source_id` string COMMENT 'the source the events came in through (injected: name it in WHERE)',
  `date`      string COMMENT 'received date, yyyy-MM-dd (UTC)',
  `hour`      string COMMENT 'received hour, 00-23 (UTC)'
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://<ArchiveBucketName>/'
TBLPROPERTIES (
  'classification'                = 'json',
  'compressionType'               = 'gzip',
  'projection.source_id.type'     = 'injected',
  'projection.enabled'            = 'true',
  'projection.date.type'          = 'date',
  'projection.date.format'        = 'yyyy-MM-dd',
  'projection.date.range'         = 'NOW-365DAYS,NOW',
  'projection.date.interval'      = '1',
  'projection.date.interval.unit' = 'DAYS',
  'projection.hour.type'          = 'integer',
  'projection.hour.range'         = '0,23',
  'projection.hour.digits'        = '2',
  'storage.location.template'     = 's3://<ArchiveBucketName>/source_id=${source_id}/date=${date}/hour=${hour}/'
);
