/**
 * Signed grant checks for the verifier suites: some valid, some signed by the
 * other key, some over a changed input, each knowing its right answer.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { BatchVerifier } from "../../src/grants/verifier.js";

export const alice = generateKeyPairSync("ed25519");
export const bob = generateKeyPairSync("ed25519");

export interface Case {
  signingInput: string;
  signature: string;
  key: KeyObject;
  valid: boolean;
}

/**
 * `n` checks, every third one valid; `tag` keeps inputs of different calls apart.
 * With `bothKeys`, odd cases are bob's (two keys reach the worker), else all are alice's.
 */
export function signedCases(n: number, tag = "", bothKeys = true): Case[] {
  return Array.from({ length: n }, (_, i) => {
    const [mine, other] = bothKeys && i % 2 === 1 ? [bob, alice] : [alice, bob];
    const signingInput = `eyJoIjoi${tag}${i}In0.eyJwIjoi${i}In0`;
    const kind = i % 3;
    const signer = kind === 1 ? other.privateKey : mine.privateKey;
    const signature = sign(null, Buffer.from(signingInput), signer).toString("base64url");
    return {
      signingInput: kind === 2 ? `${signingInput}x` : signingInput,
      signature,
      key: mine.publicKey,
      valid: kind === 0,
    };
  });
}

/** Hands `all` to `verifier` at once; resolves with the answers, in order. */
export function submit(verifier: BatchVerifier, all: readonly Case[]): Promise<boolean[]> {
  return Promise.all(all.map((c) => verifier.verify(c.signingInput, c.signature, c.key)));
}

export const nextTurn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));
