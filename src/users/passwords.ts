import { Effect } from "effect"
import * as NodeCrypto from "node:crypto"

/**
 * scrypt at N=2^15, r=8, p=1 (32 MiB, ~60 ms here): slow enough to make guessing costly, quick enough for logins.
 * The parameters are stored with each hash so they can be raised later without breaking old ones.
 */
const N = 32_768
const R = 8
const P = 1
const KEY_LENGTH = 64
const MAX_MEM = 128 * N * R * 2

const derive = (password: string, salt: Buffer, n: number, r: number, p: number, length: number) =>
  Effect.async<Buffer>((resume) => {
    NodeCrypto.scrypt(
      password,
      salt,
      length,
      { N: n, r, p, maxmem: Math.max(MAX_MEM, 128 * n * r * 2) },
      (error, key) => {
        // Only out-of-range parameters fail, and ours are fixed or were written by us: a defect.
        resume(error === null ? Effect.succeed(key) : Effect.die(error))
      }
    )
  })

/** A salted scrypt hash of a password: `scrypt$N$r$p$salt$hash` (base64url). */
export const hashPassword = (password: string): Effect.Effect<string> =>
  Effect.suspend(() => {
    const salt = NodeCrypto.randomBytes(16)
    return Effect.map(derive(password, salt, N, R, P, KEY_LENGTH), (key) => `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`)
  })

/** A stored hash no password matches, to spend the same time on unknown usernames as on known ones. */
export const UNMATCHABLE_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString("base64url")}$${Buffer.alloc(KEY_LENGTH).toString("base64url")}`

/** Whether a password matches a stored hash, compared in constant time. */
export const verifyPassword = (password: string, stored: string): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const [scheme, n, r, p, salt, hash] = stored.split("$")
    if (scheme !== "scrypt" || salt === undefined || hash === undefined) return Effect.succeed(false)
    const expected = Buffer.from(hash, "base64url")
    return Effect.map(derive(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p), expected.length), (key) =>
      NodeCrypto.timingSafeEqual(key, expected)
    )
  })

/** Why a new password is refused, if it is. */
export const passwordProblem = (password: string): string | undefined =>
  password.length < 8 ? "the password must be at least 8 characters long" : password.length > 1024 ? "the password must be at most 1024 characters long" : undefined
