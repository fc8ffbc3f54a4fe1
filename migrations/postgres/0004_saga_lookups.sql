-- The saga's three cross-tenant questions, answered without lifting
-- row-level security for the application role. Forward-only.
--
-- The worker must find every tenant's due jobs, a job handed to a step
-- component arrives as a bare id, and a payment webhook names only its
-- payment intent. Each question gets a SECURITY DEFINER function that
-- returns nothing but the (tenant, id) pairs it needs; the component then
-- does the real work inside a transaction with app.tenant_id set to that
-- tenant, under the ordinary tenant_isolation policies. The application role
-- may EXECUTE the functions and nothing more: it still cannot read another
-- tenant's job, intent or order.
--
-- The functions run as their owner, the schema owner (the role that applies
-- this migration). FORCE ROW LEVEL SECURITY holds the owner to the policies
-- too, so the owner gets read-only policies of its own on the two tables
-- the functions read (owner_lookup, FOR SELECT): it owns them and could
-- lift row-level security anyway; the policy only lets these functions see
-- across tenants.

CREATE POLICY owner_lookup ON saga_jobs FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_lookup ON payment_intents FOR SELECT TO CURRENT_USER USING (true);

-- Up to max_rows jobs claimable at due_at (due, or their worker's lease ran
-- out), of one order or all, in the order the worker claims them: the same
-- conditions as the store's claim on SQLite.
CREATE FUNCTION orderflow_due_jobs(due_at timestamptz, only_order text, max_rows integer)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT j.tenant_id, j.id FROM saga_jobs j
     WHERE ((j.state = 'pending' AND j.next_attempt_at <= due_at) OR (j.state = 'running' AND j.lease_until <= due_at))
       AND (only_order IS NULL OR j.order_id = only_order)
       AND (j.after_job IS NULL OR EXISTS (SELECT 1 FROM saga_jobs a WHERE a.id = j.after_job AND a.state = 'done'))
       AND (j.kind <> 'deprovision' OR NOT EXISTS (
             SELECT 1 FROM saga_jobs p
              WHERE p.item_id = j.item_id AND p.kind = 'provision' AND p.state IN ('pending', 'running')))
     ORDER BY j.next_attempt_at, j.created_at, j.id
     LIMIT max_rows
$$;

-- The tenant of job job_id, or NULL when there is no such job.
CREATE FUNCTION orderflow_job_tenant(job_id text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT j.tenant_id FROM saga_jobs j WHERE j.id = job_id
$$;

-- The tenant and order of payment intent intent, if the platform created it.
CREATE FUNCTION orderflow_intent_owner(intent text)
RETURNS TABLE (tenant_id text, order_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT p.tenant_id, p.order_id FROM payment_intents p WHERE p.intent_id = intent
$$;

REVOKE ALL ON FUNCTION orderflow_due_jobs(timestamptz, text, integer), orderflow_job_tenant(text),
    orderflow_intent_owner(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_due_jobs(timestamptz, text, integer), orderflow_job_tenant(text),
    orderflow_intent_owner(text) TO orderflow_app;
