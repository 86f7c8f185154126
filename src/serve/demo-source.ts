// The built-in synthetic rainy camera (demo://rain): ffmpeg's moving test pattern with fresh
// rain streaks every frame, generated in real time, so `derain serve` works with no camera.
import type { LiveInput } from '../ingest/live-source.js';

/** An ffmpeg lavfi graph: sparse random dots, stretched into streaks, tilted, screened over luma only. */
export function rainGraph(width: number, height: number, fps: number): string {
  const rows = Math.max(2, Math.round(height / 8));
  return [
    `testsrc2=size=${width}x${height}:rate=${fps},format=yuv420p[bg]`,
    `color=0x808080:size=${width}x${rows}:rate=${fps},format=gray,noise=alls=100:allf=t,` +
      `lut=c0='if(gt(val\\,235)\\,150\\,0)',scale=${width}:${height}:flags=neighbor,` +
      `rotate=0.2:fillcolor=black,boxblur=1:1,format=yuv420p[rain]`,
    `[bg][rain]blend=c0_mode=screen:c1_mode=normal:c2_mode=normal:c1_opacity=1:c2_opacity=1`,
  ].join(';');
}

export function demoInput(format: { width: number; height: number; fps: number }): LiveInput {
  return {
    display: `demo://rain (synthetic, ${format.width}x${format.height} @ ${format.fps} fps)`,
    decodeArgs: ['-re', '-f', 'lavfi', '-i', rainGraph(format.width, format.height, format.fps)],
    format,
  };
}
