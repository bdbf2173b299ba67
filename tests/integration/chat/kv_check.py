#!/usr/bin/env python3
# The KV cache kept across turns gives what a fresh run of the whole conversation
# gives: the second greedy reply of `chat` (piped, two lines) equals `run` on the
# conversation formatted with the first reply in it.
#   kv_check.py TEMPLATE ACTIVESWAP MODEL N [args for chat and run...]
# TEMPLATE is chatml or llama3 (the model's) or llama2 (given to chat with --template), formatted
# here as llama.cpp formats them (see tests/unit/test_chat.c). Prints "ok" or what
# differs; exit 0/1.
import subprocess, sys

tmpl, exe, model, n = sys.argv[1:5]
extra = sys.argv[5:]
u1, u2 = "Once upon a time", "The dog ran"
base = [exe, "chat", "-m", model, "--temp", "0", "-n", n, "-t", "2"] + extra
if tmpl == "llama2":
    base += ["--template", "llama2"]

def chat(lines):
    p = subprocess.run(base, input=lines, capture_output=True, timeout=600)
    if p.returncode:
        sys.exit("chat exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout

one = chat((u1 + "\n").encode())
two = chat((u1 + "\n" + u2 + "\n").encode())
if not one.endswith(b"\n") or not two.startswith(one):
    sys.exit("turn 1 differs between one and two turns: %r / %r" % (one, two))
r1, r2 = one[:-1], two[len(one):-1]
if tmpl == "chatml":
    prompt = (b"<|im_start|>user\n" + u1.encode() + b"<|im_end|>\n<|im_start|>assistant\n" +
              r1 + b"<|im_end|>\n<|im_start|>user\n" + u2.encode() +
              b"<|im_end|>\n<|im_start|>assistant\n")
elif tmpl == "llama3":
    h = lambda role: b"<|start_header_id|>" + role + b"<|end_header_id|>\n\n"
    prompt = (h(b"user") + u1.encode() + b"<|eot_id|>" + h(b"assistant") +
              r1.strip(b" \t\n\v\f\r") + b"<|eot_id|>" + h(b"user") + u2.encode() +
              b"<|eot_id|>" + h(b"assistant"))
else:
    prompt = (b"[INST] " + u1.encode() + b" [/INST]" + r1 + b"</s>[INST] " + u2.encode() +
              b" [/INST]")
run = [exe, "run", "-m", model, "-p", prompt, "--temp", "0", "-n", n, "-t", "2"] + extra
p = subprocess.run(run, capture_output=True, timeout=600)
if p.returncode:
    sys.exit("run exited %d" % p.returncode)
if not r2 or not p.stdout.endswith(r2):
    sys.exit("reply 2 %r is not the end of run's %r" % (r2, p.stdout[-200:]))
print("ok (%d + %d reply bytes)" % (len(r1), len(r2)))
