/** Cryptographic building blocks of rudp encryption: the injected provider, the Noise handshake and packet protection. */

export { hkdfExpand, hkdfExtract, noiseHkdf } from "./hkdf.js";
export {
  MAX_NOISE_MESSAGE,
  NoiseCipherState,
  type NoiseFailure,
  NoiseHandshake,
  NoiseHandshakeError,
  type NoiseHandshakeOptions,
  type NoisePattern,
  type NoiseSplit,
  noiseCipherName,
  noiseProtocolName,
  PSK_BYTES,
} from "./noise.js";
export {
  DEFAULT_KEY_UPDATE_INTERVAL,
  KEY_UPDATE_LABEL,
  type KeyPhase,
  MAX_PACKET_NUMBER,
  nextTrafficKey,
  type OpenDropReason,
  PacketOpener,
  type PacketOpenerOptions,
  PacketSealer,
  type PacketSealerOptions,
  type SealedPacket,
} from "./packet-protection.js";
export {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadName,
  bytesEqual,
  type CryptoProvider,
  DH_BYTES,
  HASH_BYTES,
  isAllZero,
  type KeyPair,
  writeNonce,
} from "./provider.js";
export { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_PACKET_NUMBER, ReplayWindow } from "./replay-window.js";
