# Publishes one message with Pushstream::Publisher, as in irb:
#
#   NGINX_IP=127.0.0.1 ruby publish.rb my-channel 'Hello World!'
#   NGINX_IP=127.0.0.1 ruby publish.rb my-channel username=rando 'text=hello world!'
#
# One argument after the channel is published as it is (a String); several
# key=value arguments are published as a Hash ({username: 'rando', text:
# 'hello world!'}), which Faraday sends form-encoded. NGINX_PORT, when set,
# replaces the publisher's default port 9080 (the connection is passed to
# Publisher.publish, whose third argument is there for that). Prints the
# answer's status and body.
load File.join(__dir__, 'faraday_adapter.rb')
load File.join(__dir__, 'pushstream_publisher.rb')

channel, *rest = ARGV
abort 'usage: publish.rb CHANNEL MESSAGE | CHANNEL KEY=VALUE...' if channel.nil? || rest.empty?
data = if rest.length == 1 && !rest[0].include?('=')
         rest[0]
       else
         rest.to_h { |kv| k, v = kv.split('=', 2); [k.to_sym, v.to_s] }
       end

response = if ENV['NGINX_PORT'].to_s.empty?
             Pushstream::Publisher.publish(channel, data)
           else
             Pushstream::Publisher.publish(channel, data, FaradayAdapter.new("http://#{ENV['NGINX_IP']}:#{ENV['NGINX_PORT']}"))
           end
puts response.status
puts response.body
exit(response.success? ? 0 : 1)
