// Package protocol is Herald's public wire API: the byte formats of every
// transport a subscriber or publisher speaks, exactly as Nchan writes them,
// with both their encoders and their decoders. The server encodes with it,
// and Go clients and the load tool (`herald bench`) decode with it, so the
// three cannot drift apart. Message ids live in the subpackage msgid.
//
// What is here:
//
//   - EventSource (text/event-stream): AppendEvent, AppendPing,
//     AppendStatusComment and EventSourcePreamble write a stream;
//     EventSourceDecoder reads one incrementally into Events, comments and
//     retry fields, and Event.Status recognises Nchan's closing
//     ":<status>: <status line>" comment.
//   - WebSocket frames (RFC 6455): AppendFrame, AppendMaskedFrame,
//     AppendCloseFrame, AppendPingFrame and AppendPongFrame write frames;
//     WSDecoder reads them incrementally, masked or not, into whole
//     messages and control frames, within a size the caller chooses. OpCode
//     and CloseCode name the opcodes and close codes.
//   - ws+meta.nchan: AppendWSMeta writes the header block before each
//     message; ParseWSMeta splits a message into id, content type and body.
//   - herald.v1, Herald's multiplexed WebSocket protocol (MuxProtocol):
//     ParseMuxFrame reads a frame, AppendMuxFrame and AppendMuxMessage
//     write one (docs/multiplex.md).
//   - multipart/mixed streams: AppendMultipartPart, Boundary and
//     MultipartEnd write one; MultipartDecoder reads its parts with their
//     Last-Modified, Etag and Content-Type headers.
//   - HTTP/1.1 chunks: AppendChunk and ChunkedEnd; HTTPDate formats a
//     message id's time as Last-Modified does.
//
// Encoders append to a caller's buffer, so a message is encoded once and
// the same bytes written to every subscriber. AppendEventHead,
// AppendChunkHead, AppendMultipartHead and AppendFrameHeader write only
// what goes before a body (EventDataBreak, EventEnd, ChunkDataEnd and
// AppendMultipartBoundary what goes between its lines and after it), so a
// server can write a large body from where it is, in pieces, instead of
// copying it into every format. Decoders are fed bytes in
// pieces of any size, as they come off a connection, and hand back what is
// complete; they keep a small, bounded state per stream, allocate only when
// a message is larger than any before it, and never allocate what a header
// merely declares before the bytes arrive. Each Next returns the
// decoder's own Event, WSMessage or Part, or nil when it needs more bytes;
// that item and the byte slices in it are valid until the next Feed or
// Next call, so copy what must outlive that. A decoder keeps no reference
// to the bytes fed once Next has asked for more.
package protocol
