// The query lane: SQL as host tasks on Q_data, E_data per query, errors carried on the event, and cancel of a
// running or a queued query.
#include "workloads/data/query_lane.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/data/database.h"

namespace {

using namespace std::chrono_literals;
using ut::data::Access;
using ut::data::DataError;
using ut::data::Database;

const ut::data::QueryOptions kWrite{.access = Access::read_write};

// Runs for minutes on any machine unless interrupted.
const char* kSlowSql = "SELECT sum(hash(a.range + b.range)) FROM range(1000000) a, range(100000) b";

// Whether the ticket's query has ended (in success or failure) within `limit`.
bool ended_within(const ut::data::QueryTicket& t, std::chrono::milliseconds limit) {
  try {
    return t.command_buffer.wait_until_completed(limit);
  } catch (const ut::Error&) {
    return true;  // ended, with an error
  }
}

TEST(QueryLane, QueriesRunOnTheHostQueueAndSignalEData) {
  auto dev = ut::Device::create({.backend = "cpu"});
  Database db;
  db.query("CREATE TABLE t AS SELECT range AS i FROM range(1000)", kWrite);
  ut::data::QueryLane lane(dev, db);
  EXPECT_EQ(lane.queue()->kind(), ut::QueueKind::host);
  EXPECT_EQ(lane.event()->label(), "E_data");
  auto t1 = lane.submit("SELECT sum(i) FROM t");
  auto t2 = lane.submit("SELECT count(*) FROM t");
  auto bad = lane.submit("SELECT * FROM nope");
  EXPECT_EQ(t1.get().column(0).text(0), "499500");
  EXPECT_EQ(t2.get().column(0).i64[0], 1000);
  EXPECT_GE(lane.event()->signaled_value(), t2.value);
  EXPECT_THROW(bad.get(), DataError);
  EXPECT_TRUE(bad.ready());  // E_data still advanced (carrying the error)
  EXPECT_THROW(lane.event()->wait(bad.value), ut::CommandError);  // waiters see the failure too
  auto after = lane.submit("SELECT 7");
  EXPECT_EQ(after.get().column(0).i64[0], 7);
  t1.cancel();  // finished: nothing happens
  EXPECT_EQ(t1.get().column(0).text(0), "499500");
}

TEST(QueryLane, RefusesARenderQueue) {
  auto dev = ut::Device::create({.backend = "cpu"});
  Database db;
  auto render = dev->make_queue({.kind = ut::QueueKind::render, .label = "Q_render"});
  EXPECT_THROW(ut::data::QueryLane(dev, db, render), ut::UsageError);
}

// DuckDB hears an interrupt only once it runs the query, and nothing says when that is: the test cancels again each
// time the query has not ended within a short wait. The query's timeout only bounds a run whose cancel does not
// work (it would end in QueryTimeout, not QueryCancelled).
TEST(QueryLane, CancelReachesTheRunningQuery) {
  auto dev = ut::Device::create({.backend = "cpu"});
  Database db({.threads = 2});
  ut::data::QueryLane lane(dev, db);
  auto t = lane.submit(kSlowSql, {.timeout = 240s});
  int cancels = 0;
  do {
    t.cancel();
    ++cancels;
  } while (!ended_within(t, 20ms));
  std::printf("cancelled after %d cancel() calls\n", cancels);
  EXPECT_THROW(t.get(), ut::data::QueryCancelled);
  EXPECT_TRUE(t.ready()) << "E_data reached the cancelled query's value";
  EXPECT_EQ(lane.submit("SELECT 8").get().column(0).i64[0], 8) << "the lane runs on";
}

// A query cancelled while it waits behind another never runs: its write never happens, its ticket fails with
// QueryCancelled, E_data still reaches its value, and the queries around it are untouched. The lane's queue is
// held by a command buffer that waits on a gate, so "queued" is a fact, not a timing.
TEST(QueryLane, CancelledWhileQueuedNeverRuns) {
  auto dev = ut::Device::create({.backend = "cpu"});
  Database db;
  db.query("CREATE TABLE log (n BIGINT)", kWrite);
  auto q = dev->make_queue({.kind = ut::QueueKind::host, .label = "Q_data"});
  auto gate = dev->make_event("gate");
  auto hold = q->make_command_buffer("hold");
  hold.wait(gate, 1).commit();
  ut::data::QueryLane lane(dev, db, q);
  auto first = lane.submit("INSERT INTO log VALUES (1)", kWrite);
  auto cancelled = lane.submit("INSERT INTO log VALUES (2)", kWrite);
  auto third = lane.submit("INSERT INTO log VALUES (3)", kWrite);
  EXPECT_FALSE(cancelled.ready());
  cancelled.cancel();
  gate->signal(1);
  first.get();
  try {
    cancelled.get();
    FAIL() << "expected QueryCancelled";
  } catch (const ut::data::QueryCancelled& e) {
    EXPECT_NE(std::string(e.what()).find("before it started"), std::string::npos) << e.what();
  }
  third.get();
  EXPECT_TRUE(cancelled.ready()) << "E_data reached the cancelled query's value";
  EXPECT_THROW(lane.event()->wait(cancelled.value, 1s), ut::CommandError) << "waiters on E_data see the failure";
  EXPECT_EQ(db.query("SELECT string_agg(n::VARCHAR, ',' ORDER BY n) FROM log").column(0).text(0), "1,3");
}

// QueryLane::cancel(): every query submitted so far, queued or running; the lane takes new ones afterwards.
TEST(QueryLane, LaneCancelStopsEveryQuerySubmittedSoFar) {
  auto dev = ut::Device::create({.backend = "cpu"});
  Database db({.threads = 2});
  db.query("CREATE TABLE log (n BIGINT)", kWrite);
  ut::data::QueryLane lane(dev, db);
  auto slow = lane.submit(kSlowSql, {.timeout = 240s});
  auto queued = lane.submit("INSERT INTO log VALUES (1)", kWrite);
  // Cancel until the running query has ended (see CancelReachesTheRunningQuery); the queued one is cancelled by
  // the first call already.
  do lane.cancel();
  while (!ended_within(slow, 20ms));
  EXPECT_THROW(slow.get(), ut::data::QueryCancelled);
  EXPECT_THROW(queued.get(), ut::data::QueryCancelled);
  EXPECT_EQ(db.query("SELECT count(*) FROM log").column(0).i64[0], 0) << "the queued write never ran";
  auto after = lane.submit("INSERT INTO log VALUES (2)", kWrite);
  after.get();
  EXPECT_EQ(db.query("SELECT count(*) FROM log").column(0).i64[0], 1);
}

}  // namespace
