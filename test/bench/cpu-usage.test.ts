// The live bench's CPU table rests on these: /proc/<pid>/stat read right (a command name with
// spaces and parentheses), the service's tree walked apart from the cameras', and each ffmpeg
// put in its stage by the command lines the service and the bench really spawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, descendants, parseStat, usage, type ProcInfo, type Sample } from '../../bench/cpu-usage.ts';
import { h264Args } from '../../src/egress/live-encoder.ts';

test('parseStat: ppid and utime + stime, whatever the command name holds', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = '4242 (ffmpeg) x) (y) S 17 4242 17 0 -1 4194304 1500 0 0 0 250 31 0 0 20 0 3 0';
  assert.deepEqual(parseStat(line), { pid: 4242, ppid: 17, ticks: 281 });
  assert.equal(parseStat('garbage'), null);
});

test('descendants: the whole tree under the roots, nothing beside it', () => {
  const p = (pid: number, ppid: number): [number, ProcInfo] => [pid, { pid, ppid, ticks: 0, argv: [] }];
  const procs = new Map([p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(20, 1), p(21, 20)]);
  assert.deepEqual([...descendants(procs, [10])].sort(), [10, 11, 12, 13]);
  assert.deepEqual([...descendants(procs, [20, 99])].sort(), [20, 21]);
});

test('classify: the command lines serve and the bench spawn', () => {
  const ff = '/x/node_modules/@ffmpeg-installer/linux-x64/ffmpeg';
  const q = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  const raw = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-video_size', '640x360', '-framerate', '1000', '-use_wallclock_as_timestamps', '1', '-i', 'pipe:0'];
  const h264 = h264Args({ width: 640, height: 360, fps: 25 });
  assert.equal(
    classify([ff, ...q, '-progress', 'pipe:3', '-rtsp_transport', 'udp', '-i', 'rtsp://127.0.0.1:1/cam0', '-map', '0:v:0', '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']),
    'decode',
  );
  assert.equal(classify([ff, ...q, ...raw, ...h264, '-f', 'rtsp', '-rtsp_transport', 'udp', 'rtsp://127.0.0.1:2/cam0']), 'rtsp-encode');
  assert.equal(classify([ff, ...q, ...raw, ...h264, '-f', 'mp4', '/rec/cam0.mp4']), 'record');
  assert.equal(classify([ff, ...q, ...raw.slice(0, 6), '-i', 'pipe:0', '-c:v', 'mjpeg', '-f', 'mpjpeg', 'pipe:1']), 'jpeg');
  assert.equal(classify([ff, '-nostdin', '-re', '-stream_loop', '-1', '-i', '/tmp/camera.mp4', '-c', 'copy', '-f', 'rtsp', 'rtsp://127.0.0.1:3/cam0']), 'camera-publisher');
  assert.equal(classify(['/x/ffprobe', '-i', 'rtsp://127.0.0.1:1/cam0']), 'probe');
  assert.equal(classify(['/usr/bin/node', '--import', 'file:///x/tsx/loader.mjs', '/x/src/infer/infer-process.ts']), 'inference');
  assert.equal(classify(['/usr/bin/node', '/x/dist/infer/infer-process.js']), 'inference');
  assert.equal(classify(['/usr/bin/node', '--import', 'tsx', '/x/bench/camera-server.ts', '40000', '8']), 'camera-server');
  assert.equal(classify(['/usr/bin/node', 'anything'], true), 'main');
  assert.equal(classify(['/bin/sh', '-c', 'true']), 'other');
});

test('usage: cores by stage and group over the window; a process started within it counts from zero', () => {
  const s = (at: number, procs: [number, Sample['procs'] extends Map<number, infer V> ? V : never][], machineBusy: number): Sample => ({ at, procs: new Map(procs), machineBusy });
  const a = s(
    0,
    [
      [1, { stage: 'main', ticks: 100, group: 'service' }],
      [2, { stage: 'decode', ticks: 50, group: 'service' }],
      [9, { stage: 'camera-publisher', ticks: 5, group: 'cameras' }],
    ],
    1000,
  );
  const b = s(
    2000,
    [
      [1, { stage: 'main', ticks: 140, group: 'service' }],
      [2, { stage: 'decode', ticks: 70, group: 'service' }],
      [3, { stage: 'decode', ticks: 20, group: 'service' }],
      [9, { stage: 'camera-publisher', ticks: 15, group: 'cameras' }],
    ],
    1300,
  );
  const u = usage(a, b, 100);
  assert.equal(u.seconds, 2);
  assert.deepEqual(u.stages, { main: 0.2, decode: 0.2, 'camera-publisher': 0.05 });
  assert.deepEqual(u.processes, { main: 1, decode: 2, 'camera-publisher': 1 });
  assert.ok(Math.abs(u.service - 0.4) < 1e-9);
  assert.ok(Math.abs(u.cameras - 0.05) < 1e-9);
  assert.equal(u.machine, 1.5);
});
