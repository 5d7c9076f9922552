/** A growable bit field with hex serialisation: one bit per file of a class. */
export class BitField {
  private bytes: Uint8Array;

  constructor(bits = 0) {
    this.bytes = new Uint8Array(Math.ceil(bits / 8));
  }

  /** Parses the hex form written by `toHex`. */
  static fromHex(hex: string): BitField {
    const f = new BitField();
    f.bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
    return f;
  }

  private grow(bit: number): void {
    const need = (bit >> 3) + 1;
    if (need <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(need, this.bytes.length * 2));
    next.set(this.bytes);
    this.bytes = next;
  }

  get(bit: number): boolean {
    return ((this.bytes[bit >> 3] ?? 0) & (1 << (bit & 7))) !== 0;
  }

  /** Sets `bit`; returns false when it was already set. */
  set(bit: number): boolean {
    if (this.get(bit)) return false;
    this.grow(bit);
    this.bytes[bit >> 3] = (this.bytes[bit >> 3] ?? 0) | (1 << (bit & 7));
    return true;
  }

  /** Clears `bit`; returns false when it was already clear. */
  clear(bit: number): boolean {
    if (!this.get(bit)) return false;
    this.bytes[bit >> 3] = (this.bytes[bit >> 3] ?? 0) & ~(1 << (bit & 7));
    return true;
  }

  /** Hex of the bytes, bit 0 being the low bit of the first byte; trailing zero bytes trimmed. */
  toHex(): string {
    let end = this.bytes.length;
    while (end > 0 && this.bytes[end - 1] === 0) end--;
    return Buffer.from(this.bytes.subarray(0, end)).toString('hex');
  }
}

/** Reads bit `bit` of a hex bit field as written by `BitField.toHex`, without decoding the rest. */
export function hexBitSet(hex: string, bit: number): boolean {
  const byte = parseInt(hex.slice((bit >> 3) * 2, (bit >> 3) * 2 + 2) || '0', 16);
  return (byte & (1 << (bit & 7))) !== 0;
}
