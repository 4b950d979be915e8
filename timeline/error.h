// Errors raised by the timeline API.
//
//   try { cb.wait_until_completed(); }
//   catch (const ut::CommandError& e) { std::cerr << e.what(); }   // names the command buffer and command
//
// Convention: API misuse throws ut::UsageError with "[Class::method]" context; a command that fails on a
// queue is stored on its command buffer and raised at the wait (ut::CommandError); validation findings
// (deadlocks, waits nobody will satisfy, backwards signals) raise ut::ValidationError.
#pragma once

#include <stdexcept>
#include <string>

namespace ut {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller used the API wrongly (bad argument, wrong state).
class UsageError : public Error {
 public:
  using Error::Error;
};

// A host wait ran out of time.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// A heap could not place an allocation.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

// A command failed while a queue executed it; raised at the wait on its command buffer or event.
class CommandError : public Error {
 public:
  using Error::Error;
};

// The validation layer found a wait that can never be satisfied, or an event signalled backwards.
class ValidationError : public Error {
 public:
  using Error::Error;
};

// A backend-specific failure (a vendor call returned an error).
class BackendError : public Error {
 public:
  using Error::Error;
};

}  // namespace ut
