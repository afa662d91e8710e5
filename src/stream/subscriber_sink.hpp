#pragma once
// SubscriberSink: the hub's view of the client end of a subscription, so the stream module
// needs no knowledge of the server or HTTP (the api layer implements it over a connection it
// took from the server).
//
// Contract: the hub owns the sink from Hub::add until it calls finish() exactly once (from the
// hub thread, or from add() itself when the hub no longer accepts subscribers). Between the
// two, the hub writes to fd() (non-blocking) and polls it for readability and hang-up; nothing
// else touches the socket.

#include <string>
#include <string_view>

namespace weasel {

class SubscriberSink {
 public:
  virtual ~SubscriberSink() = default;
  // The connected, non-blocking socket.
  virtual int fd() const = 0;
  // Bytes the api layer had already queued for the client (the HTTP response head), to be
  // written before anything else; called once, by the hub.
  virtual std::string take_preamble() = 0;
  // The hub is done with the stream: `final_bytes` (the end of the body, maybe an error event)
  // still have to reach the client before the connection is closed. Called once; the sink is
  // destroyed right after.
  virtual void finish(std::string final_bytes) = 0;
};

}  // namespace weasel
