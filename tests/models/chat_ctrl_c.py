#!/usr/bin/env python3
"""Ctrl-C in `dsrt chat` stops the current answer and keeps the session: two answers are
interrupted with SIGINT, the session then exits cleanly on /exit. Usage: chat_ctrl_c.py DSRT DEMO_DIR"""
import os
import signal
import subprocess
import sys
import time

dsrt, demo = sys.argv[1], sys.argv[2]
if not os.path.exists(os.path.join(demo, "config.json")):
    subprocess.run([dsrt, "make-demo", "--out", demo], check=True, stdout=subprocess.DEVNULL)
p = subprocess.Popen([dsrt, "chat", "-m", demo, "-n", "100000", "-c", "8192", "--seed", "1", "-t", "1"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
for q in (b"Tell me a long story\n", b"And another one\n"):
    p.stdin.write(q)
    p.stdin.flush()
    time.sleep(3)  # generating (the answer would run for minutes)
    p.send_signal(signal.SIGINT)
    time.sleep(1)
p.stdin.write(b"/exit\n")
p.stdin.flush()
out, _ = p.communicate(timeout=120)
text = out.decode("utf-8", "replace")
stopped = text.count("(stopped)")
print(f"exit {p.returncode}, answers stopped: {stopped}")
sys.exit(0 if p.returncode == 0 and stopped == 2 else 1)
