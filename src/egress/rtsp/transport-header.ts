// Which of the transports a reader's SETUP offers we serve (RFC 2326 §12.39: a comma-separated
// list in order of preference). UDP goes to the library as before; TCP is ours (interleaved).

export type TransportChoice =
  | { kind: 'udp'; spec: string }
  /** channels: null when the reader left the choice to us */
  | { kind: 'tcp'; profile: string; channels: [number, number] | null };

export function chooseTransport(header: string): TransportChoice | null {
  for (const raw of header.split(',')) {
    const spec = raw.trim();
    const profile = spec.split(';')[0].trim();
    if (/^RTP\/AVP\/TCP$/i.test(profile)) {
      const m = /(?:^|;)\s*interleaved=(\d+)(?:-(\d+))?/i.exec(spec);
      if (!m) return { kind: 'tcp', profile, channels: null };
      const rtp = Number(m[1]);
      const rtcp = m[2] === undefined ? rtp + 1 : Number(m[2]);
      if (rtp <= 255 && rtcp <= 255) return { kind: 'tcp', profile, channels: [rtp, rtcp] };
    } else if (/^RTP\/AVP(\/UDP)?$/i.test(profile) && /client_port=\d+-\d+/i.test(spec)) {
      return { kind: 'udp', spec };
    }
  }
  return null;
}
