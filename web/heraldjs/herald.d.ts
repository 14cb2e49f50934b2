// Type declarations for herald.js, Herald's browser client
// (docs/browser-client.md).

declare class Herald {
  static readonly PROTOCOL: 'herald.v1';
  /** url: the location with websocket_multiplex (http(s):// or ws(s)://, absolute or relative). */
  constructor(url: string, options?: Herald.HeraldOptions);
  /** The transport in use, or null between attempts. */
  readonly transport: Herald.Transport | null;
  subscribe(channel: string, onMessage: (m: Herald.Message) => void, opts?: Herald.SubscribeOptions): Herald.Subscription;
  publish(channel: string, data: string | Uint8Array | ArrayBuffer, opts?: Herald.PublishOptions): Promise<Herald.Published>;
  /** Forgets a channel's saved position. */
  forget(channel: string): void;
  on<E extends keyof Herald.HeraldEvents>(event: E, fn: Herald.HeraldEvents[E]): this;
  off<E extends keyof Herald.HeraldEvents>(event: E, fn: Herald.HeraldEvents[E]): this;
  close(): void;
}


declare namespace Herald {
  export type Transport = 'websocket' | 'eventsource' | 'longpoll';

  /** A message of a channel. */
  export interface Message {
    channel: string;
    /** Herald's message id ("<time>:<tag>"); resume from it with `from`. */
    id: string;
    /** A string, or for a message that is not UTF-8 text its bytes. */
    data: string | Uint8Array;
    contentType?: string;
    /** The EventSource event name, if the message has one. */
    event?: string;
  }

  /** What a failed frame or request says. */
  export interface HeraldError extends Error {
    name: 'HeraldError';
    /** The HTTP status (0: the connection closed before an answer). */
    status: number;
    reason: string;
    channel?: string;
  }

  export interface HeraldOptions {
    /** Transports in order of preference; default ['websocket', 'eventsource', 'longpoll']. */
    transports?: Transport[];
    /** The subscriber URL of a channel for EventSource and long-poll: a template with {channel}, or a function; default '/sub/{channel}'. */
    subscriberUrl?: string | ((channel: string) => string);
    /** The publisher URL of a channel for publishing with fetch; default '/pub/{channel}'. */
    publisherUrl?: string | ((channel: string) => string);
    /** A signed token, or a function giving the token for a channel and action (channel is null for the connection itself). */
    token?: string | ((channel: string | null, action: 'connect' | 'subscribe' | 'publish') => string | undefined);
    /** The query argument tokens go in on HTTP requests and the WebSocket handshake; default 'token'. */
    tokenParam?: string;
    /** Where each channel's last id is kept to resume after a page load: 'local' (default), 'session', or false. */
    resume?: 'local' | 'session' | false;
    /** Distinguishes saved positions of several clients on one page; default the URL. */
    storageKey?: string;
    /** Reconnect backoff bounds in milliseconds; default 250 and 10000. */
    reconnectMin?: number;
    reconnectMax?: number;
    /** fetch credentials mode; default 'same-origin'. */
    credentials?: RequestCredentials;
    /** Event names messages may carry (eventsource_event, X-EventSource-Event): the EventSource fallback receives named events only for these. */
    eventNames?: string[];
    /** EventSource withCredentials. */
    withCredentials?: boolean;
  }

  export interface SubscribeOptions {
    /** Where to start without a saved position: 'start' (oldest buffered), 'end' (next published) or a message id. */
    from?: 'start' | 'end' | string;
    /** A token for this channel, in place of the client's. */
    token?: string;
    /** Called when the server refuses or ends the subscription; default: the client's 'error' event. */
    onError?: (err: HeraldError) => void;
  }

  export interface Subscription {
    readonly channel: string;
    /** The id of the last message delivered (or the saved one). */
    readonly lastId: string | null;
    unsubscribe(): void;
  }

  export interface PublishOptions {
    contentType?: string;
    event?: string;
    token?: string;
  }

  export interface Published {
    /** The message's id (over HTTP, when the answer carries it). */
    id?: string;
    /** 201: a subscriber was waiting; 202: stored; 204: dropped by publisher_upstream_request. */
    status: number;
  }

  export interface HeraldEvents {
    /** A transport is being tried. */
    transport: (t: Transport) => void;
    /** The transport in use connected. */
    connect: (t: Transport) => void;
    /** A transport failed before connecting; the next one is tried. */
    fallback: (next: Transport) => void;
    /** Connection lost; retrying after this many milliseconds. */
    disconnect: (waitMs: number) => void;
    error: (err: HeraldError) => void;
  }

}

export = Herald;
export as namespace Herald;
