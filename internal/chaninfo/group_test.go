package chaninfo

import (
	"testing"

	"github.com/heraldpush/herald/internal/store"
)

// TestAppendGroup: group info in each format is byte for byte what Nchan
// 1.3.6's group location answers for the same counts (captured from it).
func TestAppendGroup(t *testing.T) {
	st := store.GroupStats{Channels: 1, Messages: 1, MessageBytes: 238}
	l := store.GroupLimits{Channels: 2, MessageBytes: 1024}
	tests := []struct {
		accept, ctype, want string
	}{
		{"", "text/plain", "channels: 1\r\nsubscribers: 0\r\nmessages: 1\r\nshared memory used by messages: 238 bytes\r\ndisk space used by messages: 0 bytes\r\nlimits:\r\n  max channels: 2\r\n  max subscribers: 0\r\n  max messages: 0\r\n  max messages shared memory: 1024\r\n  max messages disk space: 0\r\n"},
		{"application/json", "text/json", "{\r\n  \"channels\": 1,\r\n  \"subscribers\": 0,\r\n  \"messages\": 1,\r\n  \"messages_memory\": 238,\r\n  \"messages_disk\": 0,\r\n  \"limits\": {\r\n    \"channels\": 2,\r\n    \"subscribers\": 0,\r\n    \"messages\": 0,\r\n    \"messages_memory\": 1024,\r\n    \"messages_disk\": 0\r\n  }\r\n}"},
		{"text/xml", "text/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<group>\r\n  <channels>1</channels>\r\n  <subscribers>0</subscribers>\r\n  <messages>1</messages>\r\n  <messages_memory>238</messages_memory>\r\n  <messages_disk>0</messages_disk>\r\n  <limits>\r\n    <channels>2</channels>\r\n    <subscribers>0</subscribers>\r\n    <messages>0</messages>\r\n    <messages_memory>1024</messages_memory>\r\n    <messages_disk>0</messages_disk>\r\n  </limits>\r\n</group>"},
		{"text/yaml", "text/yaml", "---\r\nchannels: 1\r\nsubscribers: 0\r\nmessages: 1\r\nmessages_memory: 238\r\nmessages_disk: 0\r\nlimits:\r\n  channels: 2\r\n  subscribers: 0\r\n  messages: 0\r\n  messages_memory: 1024\r\n  messages_disk: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			f := Negotiate(tt.accept)
			if f.ContentType() != tt.ctype {
				t.Fatalf("Accept %q: Content-Type %q, want %q", tt.accept, f.ContentType(), tt.ctype)
			}
			if got := string(AppendGroup(nil, f, st, l)); got != tt.want {
				t.Fatalf("AppendGroup:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
