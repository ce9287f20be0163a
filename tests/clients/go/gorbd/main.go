// gorbd drives an rbd pool on a libvirt-protocol server through go-libvirt (the pure-Go client under
// terraform-provider-libvirt): a ceph secret with client.libvirt's key, the pool on a Ceph cluster,
// volumes created, inspected, listed, resized, cloned, wiped and deleted, errors. It prints one line
// per step, so the same run against libvirtd and against virtpoold can be compared line by line.
//
// Usage: gorbd unix|tcp ADDRESS CEPH_POOL MON_PORT KEY_BASE64
package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"sort"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

const (
	secretUUID = "4d6b1f7a-3c2e-4f90-8b8d-7e6f5a4b3c2d"
	poolUUID   = "4d6b1f7a-3c2e-4f90-8b8d-7e6f5a4b3c2e"
	usage      = "vp go rbd"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: gorbd unix|tcp ADDRESS CEPH_POOL MON_PORT KEY_BASE64")
		os.Exit(2)
	}

	network, address, cephPool, port, key := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	value, err := base64.StdEncoding.DecodeString(key)
	check("key", err)
	conn, err := net.DialTimeout(network, address, 5*time.Second)
	check("dial", err)
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	check("connect", l.ConnectToURI(libvirt.QEMUSystem))

	secret, err := l.SecretDefineXML(fmt.Sprintf("<secret ephemeral='no' private='yes'><uuid>%s</uuid><usage type='ceph'><name>%s</name></usage></secret>", secretUUID, usage), 0)
	check("secret define", err)
	check("secret set value", l.SecretSetValue(secret, value, 0))
	fmt.Printf("secret uuid=%x usage=%s\n", secret.UUID, secret.UsageID)

	xml := fmt.Sprintf("<pool type='rbd'><name>gorbd</name><uuid>%s</uuid><source><host name='127.0.0.1' port='%s'/><name>%s</name>"+
		"<auth type='ceph' username='libvirt'><secret uuid='%s'/></auth></source></pool>", poolUUID, port, cephPool, secretUUID)
	pool, err := l.StoragePoolDefineXML(xml, 0)
	check("define", err)
	fmt.Printf("define name=%s uuid=%x\n", pool.Name, pool.UUID)
	check("start", l.StoragePoolCreate(pool, 0))
	state, capacity, allocation, available, err := l.StoragePoolGetInfo(pool)
	check("pool info", err)
	fmt.Printf("pool info state=%d capacity=%d allocation=%d available=%d\n", state, capacity, allocation, available)

	vol, err := l.StorageVolCreateXML(pool, "<volume><name>godisk</name><capacity unit='M'>20</capacity></volume>", 0)
	check("vol create", err)
	fmt.Printf("vol create name=%s key-is-pool/name=%t\n", vol.Name, vol.Key == cephPool+"/godisk")
	vtype, vcap, valloc, err := l.StorageVolGetInfo(vol)
	check("vol info", err)
	fmt.Printf("vol info type=%d capacity=%d allocation=%d\n", vtype, vcap, valloc)
	_, err = l.StorageVolCreateXML(pool, "<volume><name>godisk</name><capacity unit='M'>20</capacity></volume>", 0)
	fmt.Printf("vol create duplicate: %v\n", err)
	_, err = l.StorageVolCreateXML(pool, "<volume><name>goq</name><capacity unit='M'>20</capacity><target><format type='qcow2'/></target></volume>", 0)
	fmt.Printf("vol create qcow2: %v\n", err)

	check("vol resize", l.StorageVolResize(vol, 40<<20, 0))
	_, vcap, valloc, err = l.StorageVolGetInfo(vol)
	check("vol info after resize", err)
	fmt.Printf("vol info after resize capacity=%d allocation=%d\n", vcap, valloc)

	clone, err := l.StorageVolCreateXMLFrom(pool, "<volume><name>goclone</name><capacity>0</capacity></volume>", vol, 0)
	check("vol clone", err)
	_, vcap, _, err = l.StorageVolGetInfo(clone)
	check("clone info", err)
	fmt.Printf("vol clone name=%s capacity=%d\n", clone.Name, vcap)
	check("vol wipe", l.StorageVolWipe(clone, 0))
	fmt.Println("vol wipe ok")
	check("vol wipe trim", l.StorageVolWipePattern(clone, uint32(libvirt.StorageVolWipeAlgTrim), 0))
	fmt.Println("vol wipe trim ok")

	vols, _, err := l.StoragePoolListAllVolumes(pool, 1, 0)
	check("vol list", err)
	names := []string{}
	for _, v := range vols {
		names = append(names, v.Name)
	}
	sort.Strings(names)
	fmt.Printf("vol list %v\n", names)

	byKey, err := l.StorageVolLookupByKey(cephPool + "/goclone")
	check("lookup by key", err)
	fmt.Printf("lookup by key name=%s\n", byKey.Name)
	_, err = l.StorageVolLookupByName(pool, "nosuch")
	fmt.Printf("vol lookup missing: %v\n", err)

	check("clone delete", l.StorageVolDelete(clone, 0))
	check("vol delete", l.StorageVolDelete(vol, libvirt.StorageVolDeleteWithSnapshots))
	fmt.Println("vol delete ok")
	check("refresh", l.StoragePoolRefresh(pool, 0))
	vols, _, err = l.StoragePoolListAllVolumes(pool, 1, 0)
	check("vol list at end", err)
	fmt.Printf("vol list at end %d\n", len(vols))
	check("destroy", l.StoragePoolDestroy(pool))
	fmt.Println("destroy ok")
	check("undefine", l.StoragePoolUndefine(pool))
	check("secret undefine", l.SecretUndefine(secret))
	fmt.Println("undefine ok")
	check("disconnect", l.Disconnect())
	fmt.Println("disconnect ok")
}

func check(step string, err error) {
	if err != nil {
		fmt.Printf("%s failed: %v\n", step, err)
		os.Exit(1)
	}
}
