-- Benchmark data: :clients clients and :deals deals (psql variables, set by run.sh).
-- Deterministic shape, random keys (uuid v4, as the service writes them).
\set ON_ERROR_STOP on
SELECT setseed(0.42) \g /dev/null

-- 20 managers own most records; about 10 % of deals have no owner.
CREATE TEMP TABLE managers AS
SELECT array_agg(gen_random_uuid()) AS ids FROM generate_series(1, 20);

INSERT INTO crm.clients (id, name, email, phone, status, owner_id, version, created_at, updated_at,
                         created_by_id, updated_by_id, is_deleted, deleted_at)
SELECT gen_random_uuid(),
       'Client ' || n,
       'client' || n || '@example.com',
       '+7 900 ' || lpad(n::text, 7, '0'),
       (ARRAY['active', 'active', 'active', 'prospect', 'inactive'])[1 + n % 5],
       m.ids[1 + c.n % 20],
       1 + n % 3,
       created,
       created + interval '1 day' * (n % 30),
       NULL, NULL,
       n % 100 = 99,                                   -- 1 % soft-deleted
       CASE WHEN n % 100 = 99 THEN created + interval '40 days' END
FROM (SELECT n, now() - interval '3 years' * random() AS created
      FROM generate_series(0, :clients - 1) AS n) AS c, managers AS m;

CREATE TEMP TABLE live_clients AS
SELECT array_agg(id) AS ids FROM crm.clients WHERE NOT is_deleted;

-- Each deal in the default pipeline's stage of its status (STAGE_OF_STATUS), since its last change.
CREATE TEMP TABLE stage_of_status AS
SELECT m.status, s.pipeline_id, s.id AS stage_id
FROM (VALUES ('draft', 'qualification'), ('qualification', 'qualification'), ('in_progress', 'negotiation'),
             ('proposal', 'proposal'), ('won', 'closedWon'), ('lost', 'closedLost')) AS m (status, key)
JOIN crm.pipelines p ON p.is_default AND NOT p.is_deleted
JOIN crm.pipeline_stages s ON s.pipeline_id = p.id AND s.key = m.key AND NOT s.is_deleted;

INSERT INTO crm.deals (id, client_id, title, description, status, next_review_at, owner_id, closed_at, version,
                       created_at, updated_at, created_by_id, updated_by_id, is_deleted, deleted_at,
                       pipeline_id, stage_id, stage_entered_at)
SELECT gen_random_uuid(),
       lc.ids[1 + d.n % cardinality(lc.ids)],
       (ARRAY['CASCO', 'OSAGO', 'Property', 'Life', 'Health', 'Cargo'])[1 + d.n % 6] || ' deal ' || d.n,
       CASE WHEN d.n % 4 = 0 THEN NULL ELSE 'Renewal for fleet of ' || (d.n % 50 + 1) || ' vehicles, notes ' || md5(d.n::text) END,
       d.status,
       -- reviews spread from 3 months ago (overdue) to a year ahead, denser near today
       current_date + (floor(-90 + 455 * power(random(), 1.5)))::int,
       CASE WHEN d.n % 10 = 0 THEN NULL ELSE m.ids[1 + d.n % 20] END,
       CASE WHEN d.status IN ('won', 'lost') THEN d.updated END,
       1 + d.n % 7,
       d.created,
       d.updated,
       m.ids[1 + (d.n + 3) % 20],
       m.ids[1 + (d.n + 7) % 20],
       d.n % 50 = 49,                                  -- 2 % soft-deleted
       CASE WHEN d.n % 50 = 49 THEN d.updated END,
       sos.pipeline_id,
       sos.stage_id,
       d.updated
FROM (SELECT n,
             created,
             created + (now() - created) * random() AS updated,
             CASE WHEN r < 0.15 THEN 'draft' WHEN r < 0.40 THEN 'qualification' WHEN r < 0.65 THEN 'in_progress'
                  WHEN r < 0.80 THEN 'proposal' WHEN r < 0.92 THEN 'won' ELSE 'lost' END AS status
      FROM (SELECT n, now() - interval '2 years' * random() AS created, random() AS r
            FROM generate_series(0, :deals - 1) AS n) AS g) AS d
     JOIN stage_of_status AS sos ON sos.status = d.status, managers AS m, live_clients AS lc;

VACUUM ANALYZE crm.clients;
VACUUM ANALYZE crm.deals;
VACUUM ANALYZE crm.outbox;
