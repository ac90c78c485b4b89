import { inflateSync } from 'node:zlib';

/** An 8-bit RGB(A) image, decoded: what a screenshot shows, pixel by pixel. */
export interface Pixels {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row after row. */
  rgba: Uint8Array;
}

/**
 * Decodes the PNGs Chromium writes (8-bit RGB or RGBA, not interlaced), so a test can check
 * what a screenshot shows rather than only that a file was written.
 */
export function decodePng(png: Buffer): Pixels {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      data.push(body);
    } else if (type === 'IEND') {
      break;
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  let previous = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? (row[i - channels] ?? 0) : 0;
      const b = previous[i] ?? 0;
      const c = i >= channels ? (previous[i - channels] ?? 0) : 0;
      const x = line[i] ?? 0;
      let value: number;
      if (filter === 0) value = x;
      else if (filter === 1) value = x + a;
      else if (filter === 2) value = x + b;
      else if (filter === 3) value = x + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        value = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      } else throw new Error(`bad PNG filter ${filter} on row ${y}`);
      row[i] = value & 0xff;
    }
    for (let px = 0; px < width; px++) {
      const to = (y * width + px) * 4;
      out[to] = row[px * channels] ?? 0;
      out[to + 1] = row[px * channels + 1] ?? 0;
      out[to + 2] = row[px * channels + 2] ?? 0;
      out[to + 3] = channels === 4 ? (row[px * channels + 3] ?? 255) : 255;
    }
    previous = row;
  }
  return { width, height, rgba: out };
}

/** How many pixels are within `tolerance` (per channel) of the CSS colour `hex` (#rrggbb). */
export function countColour({ rgba }: Pixels, hex: string, tolerance = 24): number {
  const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [
    number,
    number,
    number,
  ];
  let n = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    if (
      Math.abs((rgba[i] ?? 0) - r) <= tolerance &&
      Math.abs((rgba[i + 1] ?? 0) - g) <= tolerance &&
      Math.abs((rgba[i + 2] ?? 0) - b) <= tolerance
    ) {
      n++;
    }
  }
  return n;
}
