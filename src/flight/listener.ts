import type * as NodeHttp from "node:http"
import type * as Net from "node:net"

/**
 * gRPC on the HTTP port. Every connection the HTTP server accepts is looked at before HTTP/1.1 parses it: one that
 * opens with the HTTP/2 connection preface (cleartext, prior knowledge, as gRPC clients connect) goes to the gRPC
 * server; any other goes to Node's HTTP/1.1 handling unchanged, its first bytes put back.
 */

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1")

/**
 * A connection that sends nothing this long is handed to HTTP/1.1, whose request timeout then answers it; gRPC
 * clients send the preface at once.
 */
const FIRST_BYTES_WAIT_MS = 1_000

/** Where HTTP/2 connections go; unset while no gRPC server runs (they are then closed). */
export interface Http2Handoff {
  inject: ((socket: Net.Socket) => void) | undefined
  /** Ends the HTTP/2 connections: GOAWAY, then cut after `graceMs` (the HTTP server's close waits for them). */
  drain: ((graceMs: number) => void) | undefined
}

export const makeHttp2Handoff = (): Http2Handoff => ({ inject: undefined, drain: undefined })

/** Time in-flight gRPC calls get when the server stops (as HTTP responses get), before their connections are cut. */
const SHUTDOWN_GRACE_MS = 2_000

/** Routes the server's HTTP/2 prior-knowledge connections to `handoff`; returns the server. */
export const shareWithHttp2 = <S extends NodeHttp.Server>(server: S, handoff: Http2Handoff): S => {
  const http1 = server.listeners("connection") as Array<(socket: Net.Socket) => void>
  server.removeAllListeners("connection")
  const waiting = new Set<Net.Socket>()
  const toHttp1 = (socket: Net.Socket) => {
    for (const listener of http1) listener.call(server, socket)
  }
  server.on("connection", (socket: Net.Socket) => {
    let seen: Buffer = Buffer.alloc(0)
    waiting.add(socket)
    const finish = (http2: boolean) => {
      clearTimeout(timer)
      socket.off("data", onData)
      socket.off("close", onClose)
      waiting.delete(socket)
      socket.pause()
      if (seen.length > 0) socket.unshift(seen)
      if (!http2) {
        toHttp1(socket)
        // Node's HTTP/1.1 server reads the socket once it flows again (HTTP/2 sessions read its handle themselves).
        process.nextTick(() => socket.resume())
      } else if (handoff.inject !== undefined) handoff.inject(socket)
      else socket.destroy()
    }
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(seen.length, PREFACE.length)
      if (!seen.subarray(0, n).equals(PREFACE.subarray(0, n))) finish(false)
      else if (n === PREFACE.length) finish(true)
    }
    const onClose = () => {
      clearTimeout(timer)
      waiting.delete(socket)
    }
    const timer = setTimeout(() => finish(false), FIRST_BYTES_WAIT_MS).unref()
    socket.on("data", onData)
    socket.on("close", onClose)
  })
  const close = server.close.bind(server)
  server.close = ((callback?: (error?: Error) => void) => {
    close(callback)
    for (const socket of waiting) socket.destroy()
    waiting.clear()
    handoff.drain?.(SHUTDOWN_GRACE_MS)
    return server
  }) as typeof server.close
  return server
}
