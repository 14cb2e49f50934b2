// Package pushstream is the wire format of nginx-push-stream-module's
// protocol: the channels path grammar ("/ch1.b3/ch2"), message, header
// and footer templates with their placeholders, the EventSource and
// WebSocket shapes the module gives them, control messages (ping, channel
// deleted, long-poll timeout), JSONP wrapping, padding by user agent,
// channel statistics in the module's formats, the events channel's
// messages and the module's header names and explanations.
//
// It knows nothing of HTTP handlers or stores: internal/server uses it to
// answer push-stream locations byte for byte as the module does.
package pushstream
