/**
 * Migration 6: the bot's shared rate slots (see ../pacing-types.ts and pacing.ts).
 *
 * `pace_reserve` takes the slots of a whole batch of sends in one call, so a sender pays one
 * round trip per batch, not per send. It locks the bot's row first and only then chat rows:
 * every reservation queues on that one row, so two reservations can never lock chats in
 * opposite orders (no deadlock), and the row lock is held for microseconds (no client round
 * trip inside). Times are ms since the epoch from the callers' clocks, as everywhere in the
 * store; buckets are GCRA ("theoretical arrival time" per key, double precision: 1000/30 ms
 * is not a whole number), a group's window is the send times of its last minute.
 *
 * @module
 */

/** The DDL of migration 6 (run with the store's schema first in the search path). */
export const PG_PACING_SCHEMA_SQL = `
  -- The bot's buckets: free sends, paid sends (also the ceiling of all), and a 429's penalty.
  CREATE TABLE pacing_bot (
    id            integer          PRIMARY KEY CHECK (id = 1),
    free_tat      double precision NOT NULL DEFAULT 0,
    paid_tat      double precision NOT NULL DEFAULT 0,
    penalty_until bigint           NOT NULL DEFAULT 0
  );
  INSERT INTO pacing_bot (id) VALUES (1);

  -- One row per chat sent to lately: its bucket, its group window, its penalty. idle_at is when
  -- forgetting the row changes nothing (bucket full, window empty, penalty over).
  CREATE TABLE pacing_chats (
    chat_key      text             COLLATE "C" PRIMARY KEY,
    tat           double precision NOT NULL DEFAULT 0,
    sent          bigint[]         NOT NULL DEFAULT '{}',
    penalty_until bigint           NOT NULL DEFAULT 0,
    idle_at       bigint           NOT NULL
  );
  CREATE INDEX pacing_chats_idle ON pacing_chats (idle_at);

  -- p_limits: free interval, free tolerance, paid interval, paid tolerance, chat interval,
  -- chat tolerance (ms), group limit, group window (ms). Answers per request granted_at (null:
  -- refused) and wait_ms (refused: how long until its earliest slot).
  CREATE FUNCTION pace_reserve(
    p_now bigint, p_horizon bigint, p_chats text[], p_groups boolean[], p_paid boolean[],
    p_limits double precision[], p_prune boolean,
    OUT granted_at bigint[], OUT wait_ms bigint[], OUT bot_ready_at bigint)
  LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
  DECLARE
    bot      pacing_bot%ROWTYPE;
    chat     pacing_chats%ROWTYPE;
    fi       double precision := p_limits[1];
    ft       double precision := p_limits[2];
    pi       double precision := p_limits[3];
    pt       double precision := p_limits[4];
    ci       double precision := p_limits[5];
    ct       double precision := p_limits[6];
    gl       integer          := p_limits[7]::integer;
    gw       bigint           := p_limits[8]::bigint;
    n        integer          := coalesce(array_length(p_chats, 1), 0);
    earliest double precision;
    slot     bigint;
    recent   bigint[];
    k        integer;
  BEGIN
    granted_at := '{}';
    wait_ms := '{}';
    IF p_prune THEN
      DELETE FROM pacing_chats WHERE idle_at < p_now;
    END IF;
    SELECT * INTO bot FROM pacing_bot WHERE id = 1 FOR UPDATE;
    FOR i IN 1..n LOOP
      INSERT INTO pacing_chats (chat_key, idle_at) VALUES (p_chats[i], p_now) ON CONFLICT (chat_key) DO NOTHING;
      SELECT * INTO chat FROM pacing_chats WHERE chat_key = p_chats[i] FOR UPDATE;
      recent := ARRAY(SELECT s FROM unnest(chat.sent) AS s WHERE s > p_now - gw ORDER BY s);
      k := coalesce(array_length(recent, 1), 0);
      earliest := greatest(p_now::double precision, bot.penalty_until, chat.penalty_until, bot.paid_tat - pt, chat.tat - ct);
      IF NOT p_paid[i] THEN
        earliest := greatest(earliest, bot.free_tat - ft);
      END IF;
      IF p_groups[i] AND k >= gl THEN
        earliest := greatest(earliest, (recent[k - gl + 1] + gw)::double precision);
      END IF;
      slot := ceil(earliest)::bigint;
      IF slot - p_now > p_horizon THEN
        granted_at := granted_at || NULL::bigint;
        wait_ms := wait_ms || (slot - p_now);
        CONTINUE;
      END IF;
      granted_at := granted_at || slot;
      wait_ms := wait_ms || 0::bigint;
      bot.paid_tat := greatest(bot.paid_tat, slot) + pi;
      IF NOT p_paid[i] THEN
        bot.free_tat := greatest(bot.free_tat, slot) + fi;
      END IF;
      chat.tat := greatest(chat.tat, slot) + ci;
      IF p_groups[i] THEN
        recent := recent || slot;
      END IF;
      UPDATE pacing_chats
         SET tat = chat.tat, sent = recent,
             idle_at = greatest(ceil(chat.tat)::bigint, chat.penalty_until, CASE WHEN p_groups[i] THEN slot + gw ELSE 0 END)
       WHERE chat_key = p_chats[i];
    END LOOP;
    UPDATE pacing_bot SET free_tat = bot.free_tat, paid_tat = bot.paid_tat WHERE id = 1;
    bot_ready_at := ceil(greatest(p_now::double precision, bot.penalty_until, bot.paid_tat - pt, bot.free_tat - ft))::bigint;
  END
  $fn$;
`;
