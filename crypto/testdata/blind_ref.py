#!/usr/bin/env python3
# Independent reference for Parley key blinding (RFC 8032 pure-Python arithmetic).
import hashlib
p = 2**255 - 19
l = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p-2, p) % p
I = pow(2, (p-1)//4, p)
def inv(x): return pow(x, p-2, p)
def xrecover(y):
    xx = (y*y-1) * inv(d*y*y+1)
    x = pow(xx, (p+3)//8, p)
    if (x*x - xx) % p != 0: x = (x*I) % p
    if x % 2 != 0: x = p-x
    return x
By = 4 * inv(5) % p
B = (xrecover(By), By)
def add(P, Q):
    x1,y1=P; x2,y2=Q
    x3=(x1*y2+x2*y1)*inv(1+d*x1*x2*y1*y2); y3=(y1*y2+x1*x2)*inv(1-d*x1*x2*y1*y2)
    return (x3%p, y3%p)
def mul(P, e):
    Q=(0,1)
    while e:
        if e&1: Q=add(Q,P)
        P=add(P,P); e>>=1
    return Q
def enc(P):
    x,y=P
    return (y | ((x&1)<<255)).to_bytes(32,'little')
def dec(s):
    v=int.from_bytes(s,'little'); y=v&((1<<255)-1); x=xrecover(y)
    if x&1 != v>>255: x=p-x
    return (x,y)
H=lambda *a: hashlib.sha512(b''.join(a)).digest()
seed=bytes(range(32))
hd=H(seed); a=int.from_bytes(hd[:32],'little'); a&=(1<<254)-8; a|=1<<254
A=enc(mul(B,a)); print("A ", A.hex())
def blind(Abytes, period, key=None):
    if key is None: f=H(b"parley/blind/v1", Abytes, period.to_bytes(8,'big'))
    else: f=H(b"parley/blind-keyed/v1", Abytes, period.to_bytes(8,'big'), key)
    return int.from_bytes(f,'little') % l
def sign(h, msg, ctx=None):
    dom = b"" if ctx is None else b"SigEd25519 no Ed25519 collisions"+bytes([0,len(ctx)])+ctx
    s=(h*a)%l; Ab=enc(mul(B,s))
    assert Ab==enc(mul(dec(A),h))
    pre=H(b"parley/blind-prefix/v1", hd[32:], h.to_bytes(32,'little'))[:32]
    r=int.from_bytes(H(dom,pre,msg),'little')%l
    R=enc(mul(B,r))
    k=int.from_bytes(H(dom,R,Ab,msg),'little')%l
    S=(r+k*s)%l
    return Ab, R+S.to_bytes(32,'little')
for per in (20000,20001):
    Ab,sig=sign(blind(A,per),b"parley blind test")
    print(per,"A'",Ab.hex(),"sig",sig.hex())
key=bytes(0xa0+(i%16) for i in range(32))
Ab,sig=sign(blind(A,20000,key),b"m",b"parley/test/v1")
print("keyed A'",Ab.hex(),"sig",sig.hex())
